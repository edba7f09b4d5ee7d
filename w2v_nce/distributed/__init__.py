"""Training across processes and machines: K model replicas, periodic averaging of the rows they touched.

``sync`` is the math (engine-free), ``shares`` which part of the corpus each replica trains,
``driver`` the loop over rounds shared by every backend, ``local`` the in-process backend
(tests, measuring what K does to quality), ``ray_backend`` the Ray Core backend (imported lazily:
the package never imports Ray otherwise), ``checkpoint`` the distributed checkpoint.
"""
