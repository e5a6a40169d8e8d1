"""Person and vehicle detection (YOLOv3-tiny from a PyPI package, run by OpenCV's dnn)."""
