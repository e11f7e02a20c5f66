"""Sources of exemplars: one reader per dataset (coco, mpii, lspet, openpose, spin_npz, pw3d; SPIN's
H36M / MPI-INF-3DHP evaluation files in spin_npz), the crop step they share (people), the name ->
reader registry, TFDS builders (people_tfds, synthetic_tfds), mocap poses and synthetic humans.

Datasets import formats (image decoding, npz, the restricted unpickler, the exemplar record);
formats never import datasets."""
