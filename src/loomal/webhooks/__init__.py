"""Webhooks to tell a person (issue 27): the one part of notifications that
touches the network. The rules (what an event holds, when it is retried, when
it is dead) are ``core/notifications.py``; here events are claimed, POSTed
through the broker's transport and egress policy, and settled."""
