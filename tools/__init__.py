"""Project tools that are not shipped: the documentation's screenshots."""
