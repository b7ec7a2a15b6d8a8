"""`python -m slipway_image_builder`: run the image-builder service."""

from slipway_image_builder.app import create_app
from slipway_libs import runtime

if __name__ == "__main__":
    runtime.run(create_app().run())
