"""Slipway's wire contract: entities, commands, queries, jobs, events, subjects, replies."""
