"""health-risk: population health risk estimates, risk scores and cost forecasts on Spark."""

__version__ = "0.1.0"
