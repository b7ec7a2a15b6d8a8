"""The image-builder's use cases: each opens a unit of work, calls one domain method and
commits (see the package README for which module holds which)."""
