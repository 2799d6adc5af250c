// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title OARN compute reward token
/// @notice Requesters pay task rewards with COMP they hold; the TaskRegistry pays executors from
///         escrow by transfer. On top of that, every executor paid for a task receives a bonus
///         minted by this contract under the emission schedule:
///
///         - Year n (n = 1, 2, ...) starts at `emissionStart + (n - 1) * 365 days`.
///         - The cap of year n is 100M COMP × 0.8^(n-1): 100M, 80M, 64M, 51.2M, 40.96M, ...
///           (computed exactly in integers; it reaches 0 after a few hundred years).
///         - Bonus rule: each paid executor gets `bonusPerExecutor` COMP, clamped to what remains
///           of the current year's cap, so the cap is never exceeded (0 once the cap is reached).
///
///         Only `minter` (the TaskRegistry, set once by the deployer) can mint, and only through
///         `mintRewardBonus`. The genesis allocation `initialSupply` minted to `treasury` in the
///         constructor is outside the emission schedule and fixed at deployment.
contract COMPToken is ERC20 {
    /// @notice Emission cap of the first year.
    uint256 public constant YEAR_ONE_CAP = 100_000_000 ether;
    /// @notice Length of an emission year.
    uint256 public constant YEAR = 365 days;

    /// @notice Timestamp at which year 1 of the emission schedule starts (deployment time).
    uint256 public immutable emissionStart;
    /// @notice Bonus minted for each paid executor, before clamping to the year's remaining cap.
    uint256 public immutable bonusPerExecutor;
    /// @notice The only account allowed to mint (the TaskRegistry); zero until set.
    address public minter;
    /// @notice Emission minted so far in each year (1-based).
    mapping(uint256 year => uint256 amount) public mintedInYear;

    address private immutable _deployer;

    event MinterSet(address indexed minter);
    event BonusMinted(address indexed to, uint256 indexed year, uint256 amount);

    error NotDeployer();
    error MinterAlreadySet();
    error NotMinter();
    error ZeroAddress();

    constructor(address treasury, uint256 initialSupply, uint256 bonusPerExecutor_) ERC20("OARN Compute", "COMP") {
        _deployer = msg.sender;
        emissionStart = block.timestamp;
        bonusPerExecutor = bonusPerExecutor_;
        if (initialSupply > 0) {
            if (treasury == address(0)) revert ZeroAddress();
            _mint(treasury, initialSupply);
        }
    }

    /// @notice Set the minter once (the deployer wires the TaskRegistry); it can never change.
    function setMinter(address minter_) external {
        if (msg.sender != _deployer) revert NotDeployer();
        if (minter != address(0)) revert MinterAlreadySet();
        if (minter_ == address(0)) revert ZeroAddress();
        minter = minter_;
        emit MinterSet(minter_);
    }

    /// @notice The emission year (1-based) that contains `timestamp`.
    function yearOf(uint256 timestamp) public view returns (uint256) {
        if (timestamp < emissionStart) return 1;
        return (timestamp - emissionStart) / YEAR + 1;
    }

    /// @notice The current emission year (1-based).
    function currentYear() public view returns (uint256) {
        return yearOf(block.timestamp);
    }

    /// @notice Emission cap of `year` (1-based): 100M × 0.8^(year-1), exact integer arithmetic.
    function yearCap(uint256 year) public pure returns (uint256 cap) {
        if (year == 0) return 0;
        cap = YEAR_ONE_CAP;
        for (uint256 i = 1; i < year && cap > 0; ++i) {
            cap = (cap * 4) / 5;
        }
    }

    /// @notice What can still be minted in the current year.
    function remainingEmission() public view returns (uint256) {
        uint256 year = currentYear();
        return yearCap(year) - mintedInYear[year];
    }

    /// @notice Mint the reward bonus for one paid executor (minter only).
    /// @return minted `bonusPerExecutor` clamped to the current year's remaining cap.
    function mintRewardBonus(address executor) external returns (uint256 minted) {
        if (msg.sender != minter) revert NotMinter();
        uint256 year = currentYear();
        uint256 remaining = yearCap(year) - mintedInYear[year];
        minted = bonusPerExecutor < remaining ? bonusPerExecutor : remaining;
        if (minted > 0) {
            mintedInYear[year] += minted;
            _mint(executor, minted);
            emit BonusMinted(executor, year, minted);
        }
    }
}
