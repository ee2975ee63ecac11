"""The visual search job: a shopper's photo → detect → crop → embed → k-NN → top products; its calibration."""
