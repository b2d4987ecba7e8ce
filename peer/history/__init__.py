"""The encrypted local message history: file, sealing, conversations, search, index, store."""
