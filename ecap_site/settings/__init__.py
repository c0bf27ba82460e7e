"""Settings package: ``base`` holds everything shared; ``dev``, ``test`` and ``prod`` adjust it per environment.

Every value comes from the environment (django-environ); the README lists the variables.
"""
