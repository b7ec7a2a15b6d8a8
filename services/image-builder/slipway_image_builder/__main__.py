"""`python -m slipway_image_builder`: run the image-builder service."""

import asyncio

from slipway_image_builder.app import create_app

if __name__ == "__main__":
    asyncio.run(create_app().run())
