"""Accounts, passwords, API tokens, browser sessions and the failed-login throttle."""
