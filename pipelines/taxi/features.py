"""Features of the Chicago taxi data and how the pipeline treats each."""

LABEL_KEY = "tips"
FARE_KEY = "fare"
# Tips above this share of the fare make a "big tipper" (the label the model predicts).
BIG_TIP_SHARE = 0.2

# Numeric features scaled to z-scores.
DENSE_FLOAT_FEATURE_KEYS = ["trip_miles", "fare", "trip_seconds"]
# Coordinates cut into quantile buckets.
BUCKET_FEATURE_KEYS = [
    "pickup_latitude", "pickup_longitude", "dropoff_latitude", "dropoff_longitude",
]
BUCKET_COUNT = 10
# Strings mapped to integer ids through a vocabulary computed over the data.
VOCAB_FEATURE_KEYS = ["payment_type", "company"]
VOCAB_SIZE = 1000
OOV_SIZE = 10
# Small integer categories used as they are, with their number of values.
CATEGORICAL_FEATURE_MAX_VALUES = {
    "trip_start_hour": 24,
    "trip_start_day": 31,
    "trip_start_month": 12,
    "pickup_community_area": 80,
    "dropoff_community_area": 80,
}

# One trip as a prediction request sends it: every raw feature the served model takes.
EXAMPLE_INSTANCE = {
    "trip_seconds": 600, "pickup_latitude": 41.9, "dropoff_longitude": -87.63,
    "dropoff_latitude": 41.88, "pickup_community_area": 8, "trip_start_day": 3, "fare": 12.5,
    "dropoff_community_area": 32, "pickup_longitude": -87.62, "company": "Flash Cab",
    "trip_miles": 2.1, "payment_type": "Credit Card", "trip_start_month": 5,
    "trip_start_hour": 14,
}


def transformed_name(key: str) -> str:
    return f"{key}_xf"
