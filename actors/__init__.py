"""Long-lived stateful Ray actors, each a thin shell over a plain class that tests drive without Ray."""
