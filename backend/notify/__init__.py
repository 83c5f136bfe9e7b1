"""Notifications to the outside: partner webhooks (Standard Webhooks), delivered with retries."""
