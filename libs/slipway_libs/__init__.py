"""Shared code of Slipway's services: settings, logging, storage, outbox, messaging, events."""
