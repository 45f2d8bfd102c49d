"""Model building blocks: training sets, propensity and segmentation models.

Training functions take DataFrames and parameters and return a model and its metrics; MLflow
logging and registry promotion happen in `portrait.train.run`.
"""
