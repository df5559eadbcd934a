"""Monte-Carlo dropout (Gal & Ghahramani 2016), after Géron's Fashion-MNIST example.

    python -m examples.mc_dropout                 # Fashion-MNIST if installed, else digits

Train an MLP with dropout, then predict the test set two ways:

  - as usual: eval mode, dropout off, one deterministic pass;
  - MC dropout: dropout left on, --samples stochastic passes, class probabilities
    averaged (nn.utils.mc_dropout_predict). Their spread (std) is a measure of the
    model's uncertainty about each image.

Printed: both accuracies and mean log-likelihoods (MC averaging usually improves
calibration a little), the predicted probabilities of a few test images both ways
(with the std), and how the uncertainty separates right from wrong predictions: the
wrong ones have lower confidence and higher spread.
"""
import argparse
import sys

import numpy as np

import engine as eg
import engine.nn as nn
import engine.nn.functional as F
import engine.optim as optim
from engine.data import DataLoader, image_dataset
from engine.train import fit
from examples.common import load_images, pin_threads, subset


def model_for(features, classes, p):
    return nn.Sequential(nn.Flatten(), nn.Dropout(p / 2), nn.Linear(features, 300), nn.ReLU(),
                         nn.Dropout(p), nn.Linear(300, 100), nn.ReLU(), nn.Dropout(p),
                         nn.Linear(100, classes))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", choices=["auto", "fashion", "digits"], default="auto")
    parser.add_argument("--epochs", type=int, default=None,
                        help="default: 5 on Fashion-MNIST, 40 on digits")
    parser.add_argument("--dropout", type=float, default=0.3)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--train-subset", type=int, default=None)
    parser.add_argument("--test-subset", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    pin_threads(args.threads)
    name, train, test = load_images(args.data, args.seed)
    epochs = args.epochs or (5 if name == "fashion-mnist" else 40)
    train, test = subset(train, args.train_subset, args.seed), \
        subset(test, args.test_subset, args.seed)
    scale = 16.0 if name == "digits" else 255.0
    train_set, test_set = image_dataset(train, scale=scale), image_dataset(test, scale=scale)
    x_test, y_test = test_set.tensors
    y = y_test.numpy()
    features = x_test.shape[-1] * x_test.shape[-2]

    eg.manual_seed(args.seed)
    model = model_for(features, len(train.classes), args.dropout)
    print(f"MLP {features}-300-100-{len(train.classes)} with dropout {args.dropout} "
          f"(input {args.dropout / 2}), {len(train.labels):,} training images, {epochs} epochs")
    fit(model, nn.CrossEntropyLoss(), optim.NAdam(model.parameters(), lr=1e-3),
        DataLoader(train_set, batch_size=32, shuffle=True, generator=eg.Generator(args.seed)),
        epochs=epochs)

    model.eval()
    with eg.no_grad():
        plain = F.softmax(model(x_test), 1).numpy()
    mean, std = nn.utils.mc_dropout_predict(model, x_test, n_samples=args.samples,
                                            transform=lambda logits: F.softmax(logits, 1))
    mean, std = mean.numpy(), std.numpy()

    def report(label, probabilities):
        accuracy = np.mean(probabilities.argmax(1) == y)
        log_likelihood = np.mean(np.log(probabilities[np.arange(len(y)), y] + 1e-12))
        print(f"| {label:<24} | {accuracy:>8.2%} | {log_likelihood:>18.4f} |")

    print(f"\n{len(y):,} test images; MC dropout with {args.samples} samples")
    print("| prediction               | accuracy | mean log-likelihood |")
    print("|--------------------------|----------|---------------------|")
    report("dropout off (eval)", plain)
    report("MC dropout (mean)", mean)

    np.set_printoptions(precision=2, suppress=True)
    classes = train.classes
    print("\nthe first 3 test images: class probabilities")
    for i in range(3):
        print(f"image {i} (a {classes[y[i]]}):")
        print(f"  eval       {plain[i]}")
        print(f"  MC mean    {mean[i]}")
        print(f"  MC std     {std[i]}")

    predicted = mean.argmax(1)
    right = predicted == y
    confidence = mean[np.arange(len(y)), predicted]
    spread = std[np.arange(len(y)), predicted]
    print(f"\nuncertainty of the predicted class, right vs wrong predictions "
          f"({right.sum():,} / {(~right).sum():,}):")
    print(f"  mean MC probability: {confidence[right].mean():.3f} vs "
          f"{confidence[~right].mean() if (~right).any() else float('nan'):.3f}")
    print(f"  mean MC std:         {spread[right].mean():.3f} vs "
          f"{spread[~right].mean() if (~right).any() else float('nan'):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
