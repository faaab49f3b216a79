"""The native stack: renders configs from settings, runs every service under supervisord, waits on health."""
