"""The web pages: server-rendered HTML, one loader and one view model per page."""
