"""Pure domain knowledge with no chain or database in it: identifiers, the limit arithmetic."""
