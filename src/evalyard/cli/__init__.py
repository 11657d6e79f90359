"""The ``evalyard`` command line: commands in :mod:`.main`, output in :mod:`.render`."""
