"""Sources of exemplars: SPIN crops, keypoint formats, COCO reader, mocap poses, synthetic humans."""
