"""RQ jobs: event processing, session lifecycle, recording control, Agora REST client."""
