"""Ray Serve application pieces; today the report builder used by ``coinray demo`` and ``coinray report``."""
