"""A local Agora Cloud Recording emulator: the REST API, and signed NCS callbacks for every
session it runs, with faults switchable per run. For tests and demos; never for production.
"""

from emulator.app import create_app

__all__ = ["create_app"]
