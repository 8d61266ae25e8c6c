"""Projects: uploaded archives of flows and the files their jobs use."""
