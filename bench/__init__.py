"""The load benchmark behind ``make bench``.

``run`` is the entry point (``python -m bench.run``); ``servers`` starts and stops the servers
under gunicorn and reads their CPU time; ``load`` is the bounded load of virtual users;
``bare_server`` is the baseline: python-fido2 and Flask with nothing else.
"""
