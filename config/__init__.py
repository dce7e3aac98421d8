"""Settings, gunicorn and RQ worker configuration for recbridge."""
