"""`atu fid-stats`: the real data's reference statistics, computed once for every later evaluation.

  atu fid-stats --data mnist --exclude-class 8 --classifier judge.safetensors --resolution 32 --out no8.npz
  atu fid-stats --data folder:faces --attributes-file list_attr_celeba.txt --exclude-attribute Eyeglasses \\
      --inception pt_inception-2015-12-05-6726825d.pth --resolution 256 --out no_glasses.npz

The file (eval/reference_stats.py) holds the features' mean and covariance over every image and the
features of a seeded subset of n-fid images (KID's and precision/recall's real set), with a record of
the extractor and the data; `atu evaluate --real-stats FILE` uses it instead of reading the images
and refuses it when its features, resolution or left-out class are not the evaluation's. With the
same --n-fid and --seed, the numbers equal those `atu evaluate --data` computes itself.
"""
from __future__ import annotations


