import { describe, expect, it } from 'vitest';
import {
  chiSquareSurvival,
  erfc,
  incompleteBeta,
  lnGamma,
  normalCdf,
  normalQuantile,
  studentTQuantile,
  studentTTwoSided,
} from '../../src/measure/distributions.js';

/** Published table values (Abramowitz & Stegun; standard normal, t and chi-square tables). */
describe('special functions', () => {
  it('lnGamma matches exact values', () => {
    expect(lnGamma(0.5)).toBeCloseTo(Math.log(Math.sqrt(Math.PI)), 12);
    expect(Math.exp(lnGamma(5))).toBeCloseTo(24, 10);
    expect(Math.exp(lnGamma(10))).toBeCloseTo(362_880, 5);
    expect(lnGamma(0.1)).toBeCloseTo(2.252712651734206, 12);
  });

  it('erfc and the normal CDF match tables', () => {
    expect(erfc(0)).toBe(1);
    expect(erfc(1)).toBeCloseTo(0.157299207050285, 13);
    expect(erfc(-1)).toBeCloseTo(1.842700792949715, 13);
    expect(normalCdf(1.96)).toBeCloseTo(0.9750021048517795, 12);
    expect(normalCdf(-3)).toBeCloseTo(0.0013498980316301, 14);
    // Far tail keeps relative precision.
    expect(normalCdf(-10) / 7.619853024160527e-24).toBeCloseTo(1, 9);
  });

  it('normal quantiles match the familiar critical values', () => {
    expect(normalQuantile(0.975)).toBeCloseTo(1.959963984540054, 12);
    expect(normalQuantile(0.8)).toBeCloseTo(0.8416212335729143, 12);
    expect(normalQuantile(0.995)).toBeCloseTo(2.5758293035489, 12);
    expect(normalQuantile(0.001)).toBeCloseTo(-3.090232306167813, 12);
    expect(normalQuantile(0.5)).toBe(0);
    expect(normalQuantile(1e-10)).toBeCloseTo(-6.361340902404056, 9);
    expect(() => normalQuantile(1.5)).toThrow(RangeError);
  });

  it('chi-square tails match the 1 and 2 df critical values', () => {
    expect(chiSquareSurvival(3.841458820694124, 1)).toBeCloseTo(0.05, 12);
    expect(chiSquareSurvival(10.827566170662733, 1)).toBeCloseTo(0.001, 12);
    expect(chiSquareSurvival(5.991464547107979, 2)).toBeCloseTo(0.05, 12);
    expect(chiSquareSurvival(0, 1)).toBe(1);
  });

  it('Student t matches the t table, including non-integer df', () => {
    expect(studentTQuantile(0.975, 10)).toBeCloseTo(2.228138851986274, 10);
    expect(studentTQuantile(0.975, 1)).toBeCloseTo(12.70620473617471, 8);
    expect(studentTQuantile(0.025, 30)).toBeCloseTo(-2.042272456301238, 10);
    expect(studentTTwoSided(2.228138851986274, 10)).toBeCloseTo(0.05, 12);
    // Large df approaches the normal.
    expect(studentTQuantile(0.975, 1e7)).toBeCloseTo(1.959963984540054, 5);
  });

  it('incomplete beta has the symmetry I_x(a,b) = 1 - I_(1-x)(b,a) and known values', () => {
    expect(incompleteBeta(0.5, 2, 2)).toBeCloseTo(0.5, 14);
    // I_x(1, b) = 1 - (1-x)^b
    expect(incompleteBeta(0.3, 1, 4)).toBeCloseTo(1 - 0.7 ** 4, 14);
    expect(incompleteBeta(0.2, 3.5, 1.5) + incompleteBeta(0.8, 1.5, 3.5)).toBeCloseTo(1, 14);
  });
});
