"""`python -m slipway_chart_validator`: run the chart-validator service."""

from slipway_chart_validator.app import create_app
from slipway_libs import runtime

if __name__ == "__main__":
    runtime.run(create_app().run())
