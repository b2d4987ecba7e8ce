"""The encrypted local message history: file, sealing, conversations, retention, search, store."""
