"""The image-builder service: owns ContainerImage and builds images with the Docker Engine."""
