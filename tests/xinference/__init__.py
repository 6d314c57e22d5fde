"""A real Xinference cluster for the tests marked ``xinference``: see :mod:`tests.xinference.cluster`."""
