"""Outbound notifications (Standard Webhooks): outbox, endpoints, delivery."""
