"""The local stack for development and tests: embedded broker and PostgreSQL, and a supervisor
that starts the services as processes. Never imported by a service."""
