"""The operator's command line: ``recbridge --help``."""
