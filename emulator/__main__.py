"""``python -m emulator``: serve the Agora emulator on 127.0.0.1:$EMULATOR_PORT."""

import sys

from werkzeug.serving import run_simple

from config.emulator import EmulatorSettings
from config.settings import SettingsError
from emulator.app import create_app


def main() -> int:
    try:
        settings = EmulatorSettings.from_env()
    except SettingsError as exc:
        print(f"emulator: cannot start: {exc}", file=sys.stderr)
        return 2
    run_simple("127.0.0.1", settings.port, create_app(settings), threaded=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
