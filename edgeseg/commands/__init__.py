"""CLI subcommands: one module each, listed explicitly in ``edgeseg.cli.COMMANDS``."""
