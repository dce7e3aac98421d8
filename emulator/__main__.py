"""``python -m emulator``: serve the Agora emulator on 127.0.0.1:$EMULATOR_PORT."""

from werkzeug.serving import run_simple

from config.emulator import EmulatorSettings
from emulator.app import create_app


def main() -> None:
    settings = EmulatorSettings.from_env()
    run_simple("127.0.0.1", settings.port, create_app(settings), threaded=True)


if __name__ == "__main__":
    main()
