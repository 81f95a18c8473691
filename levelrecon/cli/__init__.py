"""Click commands: parse options, call the library, print with rich. No algorithms here."""
