"""The classifier tasks of the two papers: one-class OCSDF (certified AUROC), geometric SVM and robust
training, with their datasets and protocols."""
