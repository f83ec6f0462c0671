"""Imported by the fork server (run/isolation.py) in place of `tensorflow`: TensorFlow imported through
`import_tensorflow`, quietly and without its eager import of Keras (tensorflow_backend.py says why), as
a worker would import it. The server runs nothing else, so importing this module is its whole job."""

from gradcheck.backends.tensorflow_backend import import_tensorflow

import_tensorflow()
