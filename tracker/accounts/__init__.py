"""Who may log in: registration policy, argon2id hashing, login and resume checks, tickets."""
