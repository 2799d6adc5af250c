"""The Textual dashboard: screens, widgets and `app.tcss`. Reads runtime snapshots and events,
sends runtime commands (DESIGN rule 2); nothing outside this package imports Textual."""
