"""Pure Python helpers, importable and testable without the ORM or a database cursor."""
