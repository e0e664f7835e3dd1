"""Logic of the starsync web console (the Streamlit pages in ``pages/`` stay thin).

Modules: ``config`` (settings from file and environment), ``auth`` (password gate), ``db``
(connections, identifiers), ``splitter`` (script -> statements), ``executor`` (run and log),
``querylog`` (the master's query log), ``schema`` (listing and DDL builders), ``hub`` (the hub's
``/status`` client), ``conflicts`` (the hub's conflict log), ``export`` (mariadb-dump), ``ui``
(shared Streamlit rendering).
"""
