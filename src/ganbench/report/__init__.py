"""Study reports: a self-contained HTML page plus CSV and JSON tables."""
