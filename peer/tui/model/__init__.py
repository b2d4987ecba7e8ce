"""Everything the chat shows and does without Textual: buffers, chat model, controller, rendering.

Also the command queue, completion, the input line's history, the key table and the notification
policy; all of it is tested without a terminal.
"""
