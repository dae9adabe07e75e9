"""Subscription service: partners, products and tariffs, subscriptions, billing, user notices."""
